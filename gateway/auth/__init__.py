"""Accounts and identities: password hashing, JWTs, API keys, the JWT secret, and the accounts use-cases."""
