// Access and refresh tokens, kept in localStorage so every tab of the portal shares one log-in
// (the unified portal's single sign-on); a log-out in one tab ends the others too.
import { ref } from 'vue'

export interface Tokens {
  access: string
  refresh: string
}

const STORAGE_KEY = 'shequ.tokens'

function load(): Tokens | null {
  try {
    const raw = window.localStorage.getItem(STORAGE_KEY)
    const value: unknown = raw ? JSON.parse(raw) : null
    if (value && typeof value === 'object' && 'access' in value && 'refresh' in value) {
      const { access, refresh } = value as Record<string, unknown>
      if (typeof access === 'string' && typeof refresh === 'string') return { access, refresh }
    }
  } catch {
    // a corrupt entry counts as logged out
  }
  return null
}

/** The current tokens (null when logged out). */
export const tokens = ref<Tokens | null>(load())

export function setTokens(value: Tokens): void {
  tokens.value = value
  window.localStorage.setItem(STORAGE_KEY, JSON.stringify(value))
}

export function clearTokens(): void {
  tokens.value = null
  window.localStorage.removeItem(STORAGE_KEY)
}

window.addEventListener('storage', (event) => {
  if (event.key === STORAGE_KEY) tokens.value = load()
})
