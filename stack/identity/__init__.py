"""Local identity providers of SyncWell Sim: a Firebase-like and a Cognito-like issuer (RS256, JWKS, minting)."""
from stack.identity.issuers import COGNITO_CLIENT_ID, FIREBASE_PROJECT_ID, IssuerSpec, issuer_specs
from stack.identity.minter import TokenMinter

__all__ = ["TokenMinter", "IssuerSpec", "issuer_specs", "FIREBASE_PROJECT_ID", "COGNITO_CLIENT_ID"]
