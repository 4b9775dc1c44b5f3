// The logged-in user: identity, roles, communities and menu from the API, and the community
// the header selector points at (used as the default filter and target of new rows).
import { computed, reactive } from 'vue'

import { api, call, type Schemas } from '@/api/client'
import type { Problem } from '@/api/problem'
import { t } from '@/i18n'

import { clearTokens, setTokens, tokens } from './tokens'

export type Me = Schemas['MeResponse']
export type MenuGroup = Schemas['MenuGroup']
export type Community = Schemas['CommunityBrief']

const COMMUNITY_KEY = 'shequ.community'

interface SessionState {
  me: Me | null
  menus: MenuGroup[]
  /** The selected community id; null means every community the user reaches. */
  community: number | null
  /** Why the last session ended (shown on the log-in page). */
  notice: string | null
}

export const session = reactive<SessionState>({
  me: null,
  menus: [],
  community: null,
  notice: null,
})

export const isLoggedIn = computed(() => tokens.value !== null)

export async function login(username: string, password: string): Promise<void> {
  const pair = await call(api.POST('/api/v1/auth/login', { body: { username, password } }))
  setTokens({ access: pair.access_token, refresh: pair.refresh_token })
  session.notice = null
  session.me = null
  session.menus = []
}

/** Load who I am and pick the community for the header selector. */
export async function loadMe(): Promise<Me> {
  const me = await call(api.GET('/api/v1/me'))
  session.me = me
  const stored = Number(window.localStorage.getItem(COMMUNITY_KEY) ?? '')
  const ids = me.communities.map((c) => c.id)
  if (ids.includes(stored)) session.community = stored
  else if (ids.length === 1 && !me.all_communities) session.community = ids[0] ?? null
  else session.community = null
  return me
}

/** Load the portal menu (labels in the current language). */
export async function loadMenus(): Promise<MenuGroup[]> {
  session.menus = await call(api.GET('/api/v1/me/menus'))
  return session.menus
}

export function selectCommunity(id: number | null): void {
  session.community = id
  if (id === null) window.localStorage.removeItem(COMMUNITY_KEY)
  else window.localStorage.setItem(COMMUNITY_KEY, String(id))
}

/** The name of a community the user can reach (its id otherwise). */
export function communityName(id: number | null | undefined): string {
  if (id === null || id === undefined) return ''
  return session.me?.communities.find((c) => c.id === id)?.name ?? `#${id}`
}

function forget(): void {
  clearTokens()
  session.me = null
  session.menus = []
}

/** Log out on the server (best effort) and forget the tokens. */
export async function logout(): Promise<void> {
  try {
    await call(api.POST('/api/v1/auth/logout'))
  } catch {
    // the session may already be gone on the server; logging out locally is what matters
  }
  forget()
}

/** The server ended the session: remember why, for the log-in page. */
export function sessionEnded(problem: Problem): void {
  forget()
  session.notice = problem.detail || problem.title || t('errors.sessionEnded')
}
