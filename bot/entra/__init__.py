"""Microsoft Entra ID through Microsoft Graph: the directory the user registry is synced from."""
