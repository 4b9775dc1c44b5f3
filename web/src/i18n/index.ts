// The one translation mechanism of the portal (vue-i18n, Composition API). The current
// language also goes to the API as Accept-Language, so server-side labels follow it.
import { computed } from 'vue'
import { createI18n } from 'vue-i18n'

import en from '@/locales/en'
import zhCN, { type Messages } from '@/locales/zh-CN'

export type Language = 'zh-CN' | 'en'
export const LANGUAGES: readonly Language[] = ['zh-CN', 'en']
export const DEFAULT_LANGUAGE: Language = 'zh-CN'
const STORAGE_KEY = 'shequ.language'

function isLanguage(value: unknown): value is Language {
  return typeof value === 'string' && (LANGUAGES as readonly string[]).includes(value)
}

function initialLanguage(): Language {
  const stored = window.localStorage.getItem(STORAGE_KEY)
  return isLanguage(stored) ? stored : DEFAULT_LANGUAGE
}

export const i18n = createI18n<[Messages], Language, false>({
  legacy: false,
  locale: initialLanguage(),
  fallbackLocale: DEFAULT_LANGUAGE,
  messages: { 'zh-CN': zhCN, en },
})

/** The current UI language (reactive). */
export const language = computed<Language>(() => i18n.global.locale.value)

/** Switch the UI language, remember it, and tell the document. */
export function setLanguage(lang: Language): void {
  i18n.global.locale.value = lang
  window.localStorage.setItem(STORAGE_KEY, lang)
  document.documentElement.lang = lang
}

document.documentElement.lang = i18n.global.locale.value

/** Translate outside components (stores, API helpers). */
export const t = i18n.global.t
