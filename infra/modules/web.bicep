// App Service plan and the Linux web app running `wabridge serve` (Python 3.11): HTTPS only,
// always on, health check on /healthz, the user-assigned identity for the bot, Key Vault
// references and the archive. The app settings use the names the service reads (README).
param planName string
param siteName string
param location string
param tags object
param skuName string
param instanceCount int
param zoneRedundant bool
param identityId string
param identityClientId string
@allowed([
  'UserAssignedMSI'
  'SingleTenant'
])
param botAppType string
param microsoftAppId string
param tenantId string
param keyVaultName string
@description('True when Key Vault holds microsoft-app-password (a SingleTenant bot).')
param hasBotPassword bool
@description('https://ACCOUNT.blob.core.windows.net/CONTAINER')
param archiveUrl string
@description('https://ACCOUNT.blob.core.windows.net/CONTAINER of the checkpoint anchor')
param anchorUrl string
param appInsightsConnectionString string
param workspaceId string

var port = '8000'

resource plan 'Microsoft.Web/serverfarms@2022-09-01' = {
  // checkov:skip=CKV_AZURE_225: Zone redundancy is the zoneRedundant parameter (off by default: it needs Premium v3 with three or more instances, a cost the firm decides).
  name: planName
  location: location
  tags: tags
  kind: 'linux'
  sku: {
    name: skuName
    capacity: instanceCount
  }
  properties: {
    reserved: true
    zoneRedundant: zoneRedundant
  }
}

var baseSettings = [
  {
    name: 'MicrosoftAppType'
    value: botAppType
  }
  {
    name: 'MicrosoftAppId'
    value: microsoftAppId
  }
  {
    name: 'MicrosoftAppTenantId'
    value: tenantId
  }
  {
    name: 'WHATSAPP_ACCESS_TOKEN'
    value: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=whatsapp-access-token)'
  }
  {
    name: 'WHATSAPP_PHONE_NUMBER_ID'
    value: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=whatsapp-phone-number-id)'
  }
  {
    name: 'WHATSAPP_APP_SECRET'
    value: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=whatsapp-app-secret)'
  }
  {
    name: 'WHATSAPP_VERIFY_TOKEN'
    value: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=whatsapp-verify-token)'
  }
  {
    name: 'ARCHIVE_URL'
    value: archiveUrl
  }
  {
    name: 'WABRIDGE_ANCHOR_URL'
    value: anchorUrl
  }
  {
    name: 'AZURE_CLIENT_ID'
    value: identityClientId
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsightsConnectionString
  }
  {
    name: 'PORT'
    value: port
  }
  {
    name: 'WEBSITES_PORT'
    value: port
  }
  {
    name: 'SCM_DO_BUILD_DURING_DEPLOYMENT'
    value: 'true'
  }
]
var passwordSetting = [
  {
    name: 'MicrosoftAppPassword'
    value: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=microsoft-app-password)'
  }
]

resource site 'Microsoft.Web/sites@2022-09-01' = {
  // checkov:skip=CKV_AZURE_17: The callers (Bot Connector, Meta) present no client certificates.
  // checkov:skip=CKV_AZURE_222: The Bot Connector and Meta's webhooks call the app from the internet; public access is the product.
  // checkov:skip=CKV_AZURE_212: Failover comes from the plan's instance count (instanceCount, default 2); numberOfWorkers only matters for per-site scaling, which this plan does not use.
  name: siteName
  location: location
  tags: union(tags, {
    'azd-service-name': 'bot'
  })
  kind: 'app,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    keyVaultReferenceIdentity: identityId
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      linuxFxVersion: 'PYTHON|3.11'
      appCommandLine: 'wabridge serve'
      alwaysOn: true
      healthCheckPath: '/healthz'
      http20Enabled: true
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      remoteDebuggingEnabled: false
      detailedErrorLoggingEnabled: true
      httpLoggingEnabled: true
      requestTracingEnabled: true
      appSettings: concat(baseSettings, hasBotPassword ? passwordSetting : [])
    }
  }
}

// No publishing with user names and passwords: `azd deploy` uses Entra ID.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2022-09-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2022-09-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

resource siteDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'app-logs'
  scope: site
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'AppServiceHTTPLogs'
        enabled: true
      }
      {
        category: 'AppServiceConsoleLogs'
        enabled: true
      }
      {
        category: 'AppServiceAppLogs'
        enabled: true
      }
      {
        category: 'AppServicePlatformLogs'
        enabled: true
      }
    ]
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
