"""Governance at the moment of sending: the outbound gate, the policy card, the directory sync."""
