// wabridge on Azure: `azd up` deploys everything the service needs.
//   archive storage (WORM) · checkpoint anchor (its own account, retention-locked container)
//   App Service (Linux, Python) · Key Vault (WhatsApp secrets)
//   Azure Bot with the Teams channel · Log Analytics + Application Insights
// The outputs are what `wabridge manifest build` and the Meta webhook subscription need.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('Name of the azd environment; names and tags of every resource derive from it.')
param environmentName string

@minLength(1)
@description('Azure region for all resources except the Azure Bot (which is global).')
param location string

@secure()
@minLength(1)
@description('WhatsApp Cloud API access token (system user token). Set with: azd env set WHATSAPP_ACCESS_TOKEN ...')
param whatsappAccessToken string

@minLength(1)
@description('WhatsApp Business phone number id that sends the firm\'s messages.')
param whatsappPhoneNumberId string

@secure()
@minLength(1)
@description('Meta app secret: the key of the webhook signatures (X-Hub-Signature-256).')
param whatsappAppSecret string

@secure()
@minLength(1)
@description('Token Meta echoes in the webhook verification handshake; choose a long random value.')
param whatsappVerifyToken string

@allowed([
  'UserAssignedMSI'
  'SingleTenant'
])
@description('Bot identity: the user-assigned managed identity (no secret to rotate), or a single-tenant Entra app registration.')
param botAppType string = 'UserAssignedMSI'

@description('SingleTenant only: the Entra app registration\'s client id.')
param botAppId string = ''

@secure()
@description('SingleTenant only: the Entra app registration\'s client secret.')
param botAppPassword string = ''

@minValue(1)
@maxValue(146000)
@description('Days each archived blob version stays immutable (WORM). 2557 days = 7 years.')
param archiveRetentionDays int = 2557

@minValue(1)
@maxValue(365)
@description('Days deleted blobs and containers stay recoverable (soft delete).')
param softDeleteRetentionDays int = 30

@description('Name of the archive container.')
param archiveContainerName string = 'archive'

@description('Name of the container, in the anchor account, that receives the ledger\'s checkpoints.')
param anchorContainerName string = 'checkpoints'

@description('App Service plan SKU (Basic or higher: always-on needs it).')
param appServicePlanSku string = 'P0v3'

@minValue(1)
@maxValue(30)
@description('Number of web app instances; the service is stateless, two give failover.')
param instanceCount int = 2

@description('Spread the App Service plan over availability zones (needs Premium v3 and 3+ instances).')
param zoneRedundant bool = false

@allowed([
  'Standard_GRS'
  'Standard_RAGRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
  'Standard_ZRS'
])
@description('Archive storage redundancy.')
param storageSku string = 'Standard_GRS'

@allowed([
  'F0'
  'S1'
])
@description('Azure Bot pricing tier; Teams is a standard channel (free on F0).')
param botSku string = 'F0'

var tags = {
  'azd-env-name': environmentName
  application: 'wabridge'
}
var token = toLower(uniqueString(subscription().id, environmentName, location))
var names = {
  resourceGroup: 'rg-${environmentName}'
  identity: 'id-wabridge-${token}'
  workspace: 'log-wabridge-${token}'
  appInsights: 'appi-wabridge-${token}'
  storage: 'stwab${take(token, 17)}'
  anchor: 'stwabck${take(token, 17)}'
  keyVault: 'kv-wab-${take(token, 13)}'
  plan: 'plan-wabridge-${token}'
  site: 'app-wabridge-${token}'
  bot: 'bot-wabridge-${token}'
}

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    workspaceName: names.workspace
    appInsightsName: names.appInsights
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: names.storage
    location: location
    tags: tags
    skuName: storageSku
    containerName: archiveContainerName
    retentionDays: archiveRetentionDays
    softDeleteRetentionDays: softDeleteRetentionDays
    principalId: identity.outputs.principalId
    workspaceId: monitoring.outputs.workspaceId
  }
}

// Checkpoints of the ledger live outside the archive's account, kept as long as the records
// they vouch for (archiveRetentionDays).
module anchor 'modules/anchor.bicep' = {
  name: 'anchor'
  scope: rg
  params: {
    name: names.anchor
    location: location
    tags: tags
    skuName: storageSku
    containerName: anchorContainerName
    retentionDays: archiveRetentionDays
    softDeleteRetentionDays: softDeleteRetentionDays
    principalId: identity.outputs.principalId
    workspaceId: monitoring.outputs.workspaceId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: names.keyVault
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    workspaceId: monitoring.outputs.workspaceId
    whatsappAccessToken: whatsappAccessToken
    whatsappPhoneNumberId: whatsappPhoneNumberId
    whatsappAppSecret: whatsappAppSecret
    whatsappVerifyToken: whatsappVerifyToken
    botAppPassword: botAppType == 'SingleTenant' ? botAppPassword : ''
  }
}

var useMsi = botAppType == 'UserAssignedMSI'
var microsoftAppId = useMsi ? identity.outputs.clientId : botAppId

module web 'modules/web.bicep' = {
  name: 'web'
  scope: rg
  params: {
    planName: names.plan
    siteName: names.site
    location: location
    tags: tags
    skuName: appServicePlanSku
    instanceCount: instanceCount
    zoneRedundant: zoneRedundant
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    botAppType: botAppType
    microsoftAppId: microsoftAppId
    tenantId: tenant().tenantId
    keyVaultName: keyVault.outputs.name
    hasBotPassword: !useMsi
    archiveUrl: '${storage.outputs.blobEndpoint}${archiveContainerName}'
    anchorUrl: '${anchor.outputs.blobEndpoint}${anchorContainerName}'
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    workspaceId: monitoring.outputs.workspaceId
  }
}

module bot 'modules/bot.bicep' = {
  name: 'bot'
  scope: rg
  params: {
    name: names.bot
    tags: tags
    skuName: botSku
    botAppType: botAppType
    microsoftAppId: microsoftAppId
    tenantId: tenant().tenantId
    identityId: identity.outputs.id
    messagingEndpoint: 'https://${web.outputs.defaultHostName}/api/messages'
    workspaceId: monitoring.outputs.workspaceId
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output WEB_APP_NAME string = web.outputs.name
output BOT_ID string = microsoftAppId
output BOT_DOMAIN string = web.outputs.defaultHostName
output BOT_MESSAGING_ENDPOINT string = 'https://${web.outputs.defaultHostName}/api/messages'
output TEAMS_APP_ID string = guid(subscription().id, environmentName, 'teams-app')
output MANIFEST_BUILD_COMMAND string = 'wabridge manifest build --app-id ${guid(subscription().id, environmentName, 'teams-app')} --bot-id ${microsoftAppId} --domain ${web.outputs.defaultHostName} --out app.zip'
output WHATSAPP_WEBHOOK_URL string = 'https://${web.outputs.defaultHostName}/api/whatsapp'
output ARCHIVE_URL string = '${storage.outputs.blobEndpoint}${archiveContainerName}'
output AZURE_STORAGE_ACCOUNT string = storage.outputs.name
output ANCHOR_URL string = '${anchor.outputs.blobEndpoint}${anchorContainerName}'
output AZURE_ANCHOR_STORAGE_ACCOUNT string = anchor.outputs.name
output KEY_VAULT_NAME string = keyVault.outputs.name
