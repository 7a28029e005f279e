// The archive: a storage account reachable only over HTTPS with Entra ID (no shared keys, no
// anonymous access), blob versioning and soft delete, and the archive container with
// version-level immutability: every blob version stays WORM for `retentionDays`. Overwriting a
// mutable state document (state/...) creates a new version and keeps the old one; appends to
// the ledger's append blobs stay allowed (protected append writes).
param name string
param location string
param tags object
param skuName string
param containerName string
param retentionDays int
param softDeleteRetentionDays int
@description('Principal id of the service identity, given blob data access on this account only.')
param principalId string
param workspaceId string

// Built-in role: Storage Blob Data Contributor.
var blobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: The web app reaches the archive over its public endpoint (this template has no VNet integration); every request needs an Entra ID token of the service identity; shared keys and anonymous access are off.
  // checkov:skip=CKV_AZURE_59: Public network access stays enabled for the same reason (App Service without VNet integration); authentication is Entra ID only.
  // checkov:skip=CKV_AZURE_206: The SKU is main.bicep's storageSku parameter, whose allowed values are all replicated (GRS, RA-GRS, GZRS, RA-GZRS, ZRS; default Standard_GRS); checkov cannot resolve a module parameter. tests/deploy checks the allowed list.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    isHnsEnabled: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    isVersioningEnabled: true
    changeFeed: {
      enabled: true
    }
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
  }
}

resource archive 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
    immutableStorageWithVersioning: {
      enabled: true
    }
  }
}

// The container's default time-based retention policy, inherited by every new blob version.
// Left unlocked so that a first deployment can be corrected; lock it once verified (README).
resource worm 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = {
  parent: archive
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: retentionDays
    allowProtectedAppendWrites: true
  }
}

resource blobDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, blobDataContributorRoleId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributorRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Blob index tags (set at write, queried by `archive search`) need data actions that Storage
// Blob Data Contributor does not include; this role grants exactly those, on this account only.
resource blobIndexTagsRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'wabridge-blob-index-tags')
  properties: {
    roleName: 'wabridge blob index tags (${resourceGroup().name})'
    description: 'Read, write and query blob index tags of the wabridge archive.'
    type: 'CustomRole'
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: [
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/tags/read'
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/tags/write'
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/filter/action'
        ]
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource blobIndexTags 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, 'wabridge-blob-index-tags')
  scope: account
  properties: {
    roleDefinitionId: blobIndexTagsRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'archive-access-log'
  scope: blobService
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'StorageRead'
        enabled: true
      }
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
  }
}

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
