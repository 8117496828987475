"""Like Forge's backend/ package: only memory_management is modelled."""
