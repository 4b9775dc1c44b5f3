// Display of values by their metadata type, in the current UI language.
import type { FieldMeta } from '@/api/ledger'
import { i18n, t } from '@/i18n'

const EMPTY = '—'

export function formatDateTime(value: unknown): string {
  if (value === null || value === undefined || value === '') return EMPTY
  const date = new Date(String(value))
  if (Number.isNaN(date.getTime())) return String(value)
  return new Intl.DateTimeFormat(i18n.global.locale.value, {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  }).format(date)
}

/** A cell's text for a field (enum labels, yes/no, local times, JSON). */
export function formatValue(field: FieldMeta, value: unknown, community?: (id: number) => string): string {
  if (value === null || value === undefined || value === '') return EMPTY
  switch (field.type) {
    case 'enum':
      return field.enum?.find((option) => option.value === value)?.label ?? String(value)
    case 'boolean':
      return value ? t('common.yes') : t('common.no')
    case 'datetime':
      return formatDateTime(value)
    case 'json':
      return JSON.stringify(value)
    default:
      if (field.name === 'community_id' && community && typeof value === 'number') return community(value)
      return String(value)
  }
}
