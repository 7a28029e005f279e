// Key Vault in RBAC mode with purge protection, holding the WhatsApp secrets (and the bot's
// client secret for a SingleTenant bot). The web app reads them through Key Vault references
// with the service identity, which may only read secrets of this vault.
param name string
param location string
param tags object
param principalId string
param workspaceId string

@secure()
param whatsappAccessToken string
param whatsappPhoneNumberId string
@secure()
param whatsappAppSecret string
@secure()
param whatsappVerifyToken string
@secure()
@description('The SingleTenant bot\'s client secret; empty for a UserAssignedMSI bot.')
param botAppPassword string = ''

// Built-in role: Key Vault Secrets User.
var secretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_189: App Service resolves Key Vault references over the vault's public endpoint when the app has no VNet integration (none in this template); access needs Entra ID and the Key Vault Secrets User role.
  // checkov:skip=CKV_AZURE_109: Same reason: a firewall default of Deny would block the web app's Key Vault references; access is RBAC-only.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enablePurgeProtection: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource accessToken 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: Meta's system-user tokens and app secrets are rotated in Meta's console on the firm's schedule; an expiry date here would silently stop the service when it passes.
  parent: vault
  name: 'whatsapp-access-token'
  properties: {
    value: whatsappAccessToken
    contentType: 'text/plain'
  }
}

resource phoneNumberId 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: An identifier, not a credential: it does not expire.
  parent: vault
  name: 'whatsapp-phone-number-id'
  properties: {
    value: whatsappPhoneNumberId
    contentType: 'text/plain'
  }
}

resource appSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: Meta app secrets have no expiry; they are rotated in Meta's console, and an expiry date here would silently stop webhook verification.
  parent: vault
  name: 'whatsapp-app-secret'
  properties: {
    value: whatsappAppSecret
    contentType: 'text/plain'
  }
}

resource verifyToken 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: The webhook handshake token is chosen by the firm and only used when the subscription is (re)verified; it has no natural expiry.
  parent: vault
  name: 'whatsapp-verify-token'
  properties: {
    value: whatsappVerifyToken
    contentType: 'text/plain'
  }
}

resource botPassword 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(botAppPassword)) {
  // checkov:skip=CKV_AZURE_41: The Entra client secret carries its own expiry in Entra ID; a second expiry here could only disagree with it.
  // checkov:skip=CKV_AZURE_114: contentType is set below; checkov does not read the body of a conditional (if) resource.
  parent: vault
  name: 'microsoft-app-password'
  properties: {
    value: botAppPassword
    contentType: 'text/plain'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, secretsUserRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUserRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource vaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'vault-audit-log'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'AuditEvent'
        enabled: true
      }
    ]
  }
}

output name string = vault.name
