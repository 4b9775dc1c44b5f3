// From the filter bar's values to the list API's query parameters, driven by the metadata:
// enum → field=value, boolean → field=true, text → field__contains, numbers → field=value,
// date/datetime ranges → field__gte / field__lte.
import type { FieldMeta, LedgerMeta } from '@/api/ledger'

export type FilterValue = string | number | boolean | string[] | null | undefined
export type FilterValues = Record<string, FilterValue>

/** Columns the filter bar offers (the community comes from the header selector). */
export function filterFields(meta: LedgerMeta): FieldMeta[] {
  return meta.fields.filter(
    (f) => f.filterable && f.name !== 'id' && f.name !== 'community_id' && f.type !== 'json',
  )
}

export function emptyFilters(meta: LedgerMeta): FilterValues {
  const values: FilterValues = {}
  for (const field of filterFields(meta)) values[field.name] = field.type === 'boolean' ? false : null
  return values
}

export function appendFilters(params: URLSearchParams, meta: LedgerMeta, values: FilterValues): void {
  for (const field of filterFields(meta)) {
    const value = values[field.name]
    if (value === null || value === undefined || value === '') continue
    switch (field.type) {
      case 'boolean':
        if (value === true) params.set(field.name, 'true')
        break
      case 'date':
      case 'datetime':
        if (Array.isArray(value) && value.length === 2 && value[0] && value[1]) {
          params.set(`${field.name}__gte`, value[0])
          params.set(`${field.name}__lte`, value[1])
        }
        break
      case 'string':
        params.set(`${field.name}__contains`, String(value).trim())
        break
      default:
        params.set(field.name, String(value))
    }
  }
}

/** The sort parameter for a table column's sort state. */
export function sortParam(prop: string | null, order: 'ascending' | 'descending' | null): string | null {
  if (!prop || !order) return null
  return order === 'descending' ? `-${prop}` : prop
}
