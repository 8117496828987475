"""The labels of our manifest assertions: shared by the manifest, its readers and the consent
checks, without the imports `manifest.py` needs."""

PRODUCT = "sd-webui-sonic"
NAMESPACE = "org.sd-webui-sonic"
CONSENT_LABEL = f"{NAMESPACE}.consent"  # the consent gate's decision
# The signed consent credentials (consent/credentials.py) of every consent the video relies on
CREDENTIAL_LABEL = f"{NAMESPACE}.consent-credential"
GENERATION_LABEL = f"{NAMESPACE}.generation"
# The CAWG identity assertion's role for the registry: it authorised this depiction
IDENTITY_ROLE = f"{NAMESPACE}.depiction-authorized"
