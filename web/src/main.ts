// Entry: i18n, router, and the hand-off from a lost session back to the log-in page.
import { createApp } from 'vue'

import { onSessionLost } from '@/api/client'
import { sessionEnded } from '@/auth/session'
import { i18n } from '@/i18n'
import { router } from '@/router'

import App from './App.vue'
import './styles/base.css'

onSessionLost((problem) => {
  sessionEnded(problem)
  const current = router.currentRoute.value
  if (current.name !== 'login') {
    void router.replace({ name: 'login', query: { redirect: current.fullPath } })
  }
})

createApp(App).use(i18n).use(router).mount('#app')
