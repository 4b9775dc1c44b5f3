// The built-in role codes (src/shequ/platform/roles.yaml) and the scopes each may be granted
// at; their names are translated in the locale files (roles.*, scopeKinds.*). The API has no
// role list yet (back-end request in the report).
export type ScopeKind = 'platform' | 'region' | 'community' | 'building' | 'household'

export const BUILTIN_ROLES: ReadonlyArray<{ code: string; scopes: readonly ScopeKind[] }> = [
  { code: 'platform_admin', scopes: ['platform'] },
  { code: 'street_officer', scopes: ['region', 'community'] },
  { code: 'community_committee', scopes: ['community'] },
  { code: 'property_manager', scopes: ['community', 'building'] },
  { code: 'security_operator', scopes: ['community', 'building'] },
  { code: 'maintenance_worker', scopes: ['community', 'building'] },
  { code: 'service_provider', scopes: ['community'] },
  { code: 'resident', scopes: ['household'] },
]
