"""Cryptographic and perceptual hashing of artifacts."""
