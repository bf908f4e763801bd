"""aios-policy: the SDK and worker for AIOS-compatible custom policies (``AIOSv1PolicyRule``).

Kept import-light on purpose: ``python -m aios_policy.limits`` and ``python -m aios_policy.worker``
start on every worker launch, so nothing here imports more than :mod:`aios_policy.types`.
"""

from .types import POLICY_KINDS, PolicyError, PolicyURI, parse_policy_uri

__all__ = ["POLICY_KINDS", "PolicyError", "PolicyURI", "parse_policy_uri", "__version__"]

__version__ = "0.1.0"
