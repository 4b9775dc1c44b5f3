// Routes, each page its own chunk (the log-in page stays small), and the log-in guard that
// keeps the page the user asked for (?redirect=) to return to it after logging in.
import { createRouter, createWebHistory, type RouteLocationNormalized } from 'vue-router'

import { isLoggedIn } from '@/auth/session'
import { t } from '@/i18n'

declare module 'vue-router' {
  interface RouteMeta {
    /** Reachable without logging in. */
    public?: boolean
    /** i18n key of the page title (breadcrumb and document title). */
    title?: string
  }
}

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    {
      path: '/login',
      name: 'login',
      component: () => import('@/views/LoginView.vue'),
      meta: { public: true, title: 'routes.login' },
    },
    {
      path: '/',
      component: () => import('@/layouts/PortalLayout.vue'),
      children: [
        {
          path: '',
          name: 'home',
          component: () => import('@/views/HomeView.vue'),
          meta: { title: 'routes.home' },
        },
        {
          path: 'ledgers/:name',
          name: 'ledger',
          component: () => import('@/views/ledger/LedgerView.vue'),
          props: true,
          meta: { title: 'routes.ledger' },
        },
        {
          path: 'admin/communities',
          name: 'admin-communities',
          component: () => import('@/views/admin/CommunitiesView.vue'),
          meta: { title: 'admin.communities.title' },
        },
        {
          path: 'admin/users',
          name: 'admin-users',
          component: () => import('@/views/admin/UsersView.vue'),
          meta: { title: 'admin.users.title' },
        },
        {
          path: 'admin/api-keys',
          name: 'admin-api-keys',
          component: () => import('@/views/admin/ApiKeysView.vue'),
          meta: { title: 'admin.apiKeys.title' },
        },
        {
          path: 'admin/audit',
          name: 'admin-audit',
          component: () => import('@/views/admin/AuditView.vue'),
          meta: { title: 'admin.audit.title' },
        },
        {
          path: ':pathMatch(.*)*',
          name: 'not-found',
          component: () => import('@/views/NotFoundView.vue'),
          meta: { title: 'routes.notFound' },
        },
      ],
    },
  ],
})

/** A redirect target from the query string, only when it is a path inside the portal. */
export function safeRedirect(value: unknown): string {
  const target = Array.isArray(value) ? value[0] : value
  if (typeof target === 'string' && target.startsWith('/') && !target.startsWith('//')
      && !target.startsWith('/login')) {
    return target
  }
  return '/'
}

router.beforeEach((to: RouteLocationNormalized) => {
  if (!to.meta.public && !isLoggedIn.value) {
    return { name: 'login', query: to.fullPath === '/' ? {} : { redirect: to.fullPath } }
  }
  if (to.name === 'login' && isLoggedIn.value) return safeRedirect(to.query.redirect)
  return true
})

router.afterEach((to) => {
  document.title = to.meta.title ? `${t(to.meta.title)} · ${t('app.title')}` : t('app.title')
})
