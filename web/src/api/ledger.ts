// The generic ledger routes (/api/v1/NAME...). Ledger names are known only at run time, so
// these calls go through the untyped request helpers; row payloads are plain records.
// `LedgerMeta` mirrors GET /NAME/meta, which the OpenAPI document leaves untyped (back-end
// request in the report); Stats and ImportResult come from the generated schema.
import { request, requestJson, type Schemas } from '@/api/client'
import { saveResponse } from '@/utils/download'

export type FieldType = 'integer' | 'number' | 'string' | 'boolean' | 'date' | 'datetime' | 'enum' | 'json'

export interface EnumOption {
  value: string
  label: string
}

export interface FieldMeta {
  name: string
  label: string
  type: FieldType
  nullable: boolean
  filterable: boolean
  sortable: boolean
  searchable: boolean
  creatable: boolean
  editable: boolean
  required: boolean
  personal: boolean
  enum?: EnumOption[]
  max_length?: number
}

export interface LedgerMeta {
  name: string
  label: string
  layer: string
  fields: FieldMeta[]
  default_sort: string[]
  operators: string[]
}

export type Row = Record<string, unknown> & { id: number }

export interface Page {
  items: Row[]
  total: number
  page: number
  page_size: number
}

export type Stats = Schemas['Stats']
export type ImportResult = Schemas['ImportResult']
export type ExportFormat = 'csv' | 'xlsx'

const enc = encodeURIComponent

export function fetchMeta(name: string): Promise<LedgerMeta> {
  return requestJson<LedgerMeta>(`/${enc(name)}/meta`)
}

export function listRows(name: string, query: URLSearchParams): Promise<Page> {
  return requestJson<Page>(`/${enc(name)}?${query.toString()}`)
}

function jsonInit(method: string, body: unknown): RequestInit {
  return { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }
}

export function createRow(name: string, body: Record<string, unknown>): Promise<Row> {
  return requestJson<Row>(`/${enc(name)}`, jsonInit('POST', body))
}

export function updateRow(name: string, id: number, body: Record<string, unknown>): Promise<Row> {
  return requestJson<Row>(`/${enc(name)}/${id}`, jsonInit('PATCH', body))
}

export async function deleteRow(name: string, id: number): Promise<void> {
  await request(`/${enc(name)}/${id}`, { method: 'DELETE' })
}

export async function exportRows(name: string, query: URLSearchParams, format: ExportFormat): Promise<string> {
  const params = new URLSearchParams(query)
  params.set('format', format)
  const response = await request(`/${enc(name)}/export?${params.toString()}`)
  return saveResponse(response, `${name}.${format}`)
}

export async function downloadTemplate(name: string): Promise<string> {
  const response = await request(`/${enc(name)}/import/template`)
  return saveResponse(response, `${name}-template.xlsx`)
}

export function importRows(name: string, file: File, communityId: number | null): Promise<ImportResult> {
  const body = new FormData()
  body.append('file', file, file.name)
  const query = communityId ? `?community_id=${communityId}` : ''
  return requestJson<ImportResult>(`/${enc(name)}/import${query}`, { method: 'POST', body })
}

export function fetchStats(name: string, query: URLSearchParams): Promise<Stats> {
  return requestJson<Stats>(`/${enc(name)}/stats?${query.toString()}`)
}
