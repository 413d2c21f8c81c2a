"""Access policies: the Casbin model, the access-plan compiler and masking (built with issue 3)."""
