// RFC 9457 problem+json as the API returns it. The OpenAPI document does not describe the
// error bodies yet, so this shape is declared here (see the report: back-end request).
import { t } from '@/i18n'

export interface ProblemError {
  field?: string | null
  code?: string
  message: string
  row?: number
  location?: string
}

export interface Problem {
  type?: string
  title: string
  status: number
  code: string
  detail?: string
  errors?: ProblemError[]
  request_id?: string
}

function isProblem(value: unknown): value is Problem {
  return !!value && typeof value === 'object' && 'code' in value && 'title' in value
}

/** An API call that failed: its status and the problem (messages already translated). */
export class ApiError extends Error {
  readonly status: number
  readonly problem: Problem

  constructor(status: number, problem: Problem) {
    super(problem.detail || problem.title)
    this.name = 'ApiError'
    this.status = status
    this.problem = problem
  }

  /** The message to show the user. */
  get userMessage(): string {
    return this.problem.detail || this.problem.title
  }

  /** Field errors as {field: message} (first message per field). */
  fieldErrors(): Record<string, string> {
    const found: Record<string, string> = {}
    for (const error of this.problem.errors ?? []) {
      const field = error.field?.split('.').pop()
      if (field && !(field in found)) found[field] = error.message
    }
    return found
  }
}

/** Build a problem from a parsed error body, or a generic one for anything else. */
export function toProblem(body: unknown, status: number): Problem {
  if (isProblem(body)) return body
  if (status === 0) return { title: t('errors.network'), status, code: 'client.network' }
  return { title: t('errors.unexpected', { status }), status, code: 'client.unexpected' }
}

/** Read a response's problem body without consuming the original response. */
export async function readProblem(response: Response): Promise<Problem> {
  let body: unknown = null
  try {
    body = await response.clone().json()
  } catch {
    body = null
  }
  return toProblem(body, response.status)
}

/** The message of any error thrown by an API call. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.userMessage
  return t('errors.network')
}
