// The service's user-assigned managed identity: the bot's identity (UserAssignedMSI), the
// identity that reads Key Vault references and writes the archive (AZURE_CLIENT_ID).
param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
