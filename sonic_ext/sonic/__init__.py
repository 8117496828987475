"""The Sonic talking-head pipeline: checkpoint layout now; models and sampling follow."""
