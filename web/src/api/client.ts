// The API client: openapi-fetch over the types generated from the OpenAPI document, and one
// fetch wrapper that adds the bearer token and Accept-Language, refreshes an expired access
// token once (401 auth.token_expired) and reports a lost session (any other 401).
import createClient from 'openapi-fetch'

import { clearTokens, setTokens, tokens } from '@/auth/tokens'
import { language } from '@/i18n'

import { ApiError, readProblem, toProblem, type Problem } from './problem'
import type { components, paths } from './schema'

export type Schemas = components['schemas']
export const API_PREFIX = '/api/v1'

type SessionLostHandler = (problem: Problem) => void
let sessionLost: SessionLostHandler = () => undefined

/** Who to tell when the session ends on the server side (expired, idle, revoked). */
export function onSessionLost(handler: SessionLostHandler): void {
  sessionLost = handler
}

const AUTH_ROUTES = [`${API_PREFIX}/auth/login`, `${API_PREFIX}/auth/refresh`]

function isAuthRoute(url: string): boolean {
  const path = new URL(url, window.location.href).pathname
  return AUTH_ROUTES.includes(path)
}

function prepare(request: Request, access: string | undefined): Request {
  const headers = new Headers(request.headers)
  headers.set('Accept-Language', language.value)
  if (access) headers.set('Authorization', `Bearer ${access}`)
  return new Request(request, { headers })
}

/** The outcome of a refresh: null when new tokens were stored, else why it failed. */
type RefreshOutcome = Problem | null
let refreshing: Promise<RefreshOutcome> | null = null

async function refreshTokens(): Promise<RefreshOutcome> {
  const refresh = tokens.value?.refresh
  if (!refresh) return toProblem(null, 401)
  const response = await fetch(`${API_PREFIX}/auth/refresh`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Accept-Language': language.value },
    body: JSON.stringify({ refresh_token: refresh }),
  })
  if (!response.ok) return readProblem(response)
  const pair = (await response.json()) as Schemas['TokenResponse']
  setTokens({ access: pair.access_token, refresh: pair.refresh_token })
  return null
}

/** Refresh once for every request that found its token expired at the same time. */
function refreshOnce(): Promise<RefreshOutcome> {
  refreshing ??= refreshTokens()
    .catch(() => toProblem(null, 0))
    .finally(() => {
      refreshing = null
    })
  return refreshing
}

function lose(problem: Problem): void {
  if (tokens.value === null) return
  clearTokens()
  sessionLost(problem)
}

/** fetch with the session: token, language, refresh on expiry, log-in on a lost session. */
export async function authFetch(request: Request): Promise<Response> {
  const spare = request.clone()
  const used = tokens.value?.access
  const response = await fetch(prepare(request, used))
  if (response.status !== 401 || isAuthRoute(request.url) || !used) return response
  let problem = await readProblem(response)
  const rotated = tokens.value?.access !== undefined && tokens.value.access !== used
  if (!rotated && problem.code === 'auth.token_expired') {
    const failure = await refreshOnce()
    if (failure?.status === 0) return response // the network, not the session, failed
    if (failure) problem = failure
  }
  if (tokens.value?.access !== undefined && tokens.value.access !== used) {
    const again = await fetch(prepare(spare, tokens.value.access))
    if (again.status === 401) lose(await readProblem(again))
    return again
  }
  lose(problem)
  return response
}

/** The typed client for every endpoint the OpenAPI document describes. */
export const api = createClient<paths>({ baseUrl: '', fetch: authFetch })

interface FetchResult<T> {
  data?: T
  error?: unknown
  response: Response
}

/** Await an openapi-fetch call: its data, or an ApiError with the problem. */
export async function call<T>(pending: Promise<FetchResult<T>>): Promise<T> {
  let result: FetchResult<T>
  try {
    result = await pending
  } catch {
    throw new ApiError(0, toProblem(null, 0))
  }
  if (!result.response.ok) throw new ApiError(result.response.status, toProblem(result.error, result.response.status))
  return result.data as T
}

/** An untyped request (generic ledger routes are named at run time). */
export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  let response: Response
  try {
    response = await authFetch(new Request(`${API_PREFIX}${path}`, init))
  } catch {
    throw new ApiError(0, toProblem(null, 0))
  }
  if (!response.ok) throw new ApiError(response.status, await readProblem(response))
  return response
}

/** An untyped JSON request. */
export async function requestJson<T>(path: string, init: RequestInit = {}): Promise<T> {
  const response = await request(path, init)
  return (response.status === 204 ? undefined : await response.json()) as T
}
