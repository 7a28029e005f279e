// The anchor: where the service writes checkpoints of the archive's ledger (README, "The
// archive"). A storage account of its own, so that rights on the archive's account give none
// here, with one container under a container-level time-based retention policy: once written,
// a checkpoint can be neither overwritten nor deleted for `retentionDays`, by anyone (a
// version-level policy, as on the archive, would let an overwrite make a new current version).
// No blob versioning on this account for that reason. The service identity may read, list and
// create blobs here; the retention policy refuses every change to what exists.
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
  // checkov:skip=CKV_AZURE_35: The web app reaches the anchor over its public endpoint (this template has no VNet integration); every request needs an Entra ID token of the service identity; shared keys and anonymous access are off.
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

resource checkpoints 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}

// Created unlocked so that a first deployment can be corrected; lock it once verified
// (README, "Deploy to Azure"): from then on the period can only be extended.
resource retention 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = {
  parent: checkpoints
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: retentionDays
    allowProtectedAppendWrites: false
  }
}

resource checkpointWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, blobDataContributorRoleId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributorRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'anchor-access-log'
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
output blobEndpoint string = account.properties.primaryEndpoints.blob
