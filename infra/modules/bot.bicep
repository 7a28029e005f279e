// The Azure Bot: the service's identity in the Bot Framework, its messaging endpoint and the
// Microsoft Teams channel.
param name string
param tags object
param skuName string
@allowed([
  'UserAssignedMSI'
  'SingleTenant'
])
param botAppType string
param microsoftAppId string
param tenantId string
@description('Resource id of the user-assigned identity (used when botAppType is UserAssignedMSI).')
param identityId string
param messagingEndpoint string
param workspaceId string

var baseProperties = {
  displayName: 'WhatsApp bridge'
  description: 'Relays WhatsApp conversations into Teams threads and archives every message.'
  endpoint: messagingEndpoint
  msaAppId: microsoftAppId
  msaAppType: botAppType
  msaAppTenantId: tenantId
  disableLocalAuth: true
  publicNetworkAccess: 'Enabled'
}
var msiProperties = {
  msaAppMSIResourceId: identityId
}

resource bot 'Microsoft.BotService/botServices@2022-09-15' = {
  name: name
  location: 'global'
  tags: tags
  kind: 'azurebot'
  sku: {
    name: skuName
  }
  properties: union(baseProperties, botAppType == 'UserAssignedMSI' ? msiProperties : {})
}

resource teams 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'MsTeamsChannel'
  location: 'global'
  properties: {
    channelName: 'MsTeamsChannel'
    properties: {
      isEnabled: true
      enableCalling: false
      acceptedTerms: true
    }
  }
}

resource botDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'bot-logs'
  scope: bot
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'BotRequest'
        enabled: true
      }
    ]
  }
}

output name string = bot.name
