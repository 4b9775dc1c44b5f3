// Vite build of the Shequ portal: Vue SFCs, Element Plus components imported on demand
// (each route chunk carries only the components and styles it uses), `@` → src.
import { fileURLToPath, URL } from 'node:url'

import vue from '@vitejs/plugin-vue'
import Components from 'unplugin-vue-components/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'
import { defineConfig } from 'vite'

/** Readable names for shared chunks (rolldown names them after their first module, "css"). */
function chunkName(chunk: { name: string; moduleIds: string[] }): string {
  if (chunk.name !== 'css' && chunk.name !== 'index') return chunk.name
  const ids = chunk.moduleIds
  if (ids.some((id) => id.includes('/@vue/runtime-core/'))) return 'vendor'
  const counts = new Map<string, number>()
  for (const id of ids) {
    const component = /element-plus\/es\/components\/([\w-]+)\//.exec(id)?.[1]
    if (component) counts.set(component, (counts.get(component) ?? 0) + 1)
  }
  const top = [...counts].sort((a, b) => b[1] - a[1])[0]
  return top ? `ep-${top[0]}` : chunk.name
}

// `npm run dev` proxies the API to a local `shequ serve` (SHEQU_API, default port 8000).
const api = process.env.SHEQU_API ?? 'http://127.0.0.1:8000'

export default defineConfig({
  plugins: [
    vue(),
    Components({
      dirs: [],
      resolvers: [ElementPlusResolver({ importStyle: 'css' })],
      dts: 'src/components.d.ts',
    }),
  ],
  resolve: {
    alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
  },
  define: {
    // vue-i18n: Composition API only, no devtools hooks in production.
    __VUE_I18N_FULL_INSTALL__: true,
    __VUE_I18N_LEGACY_API__: false,
    __INTLIFY_PROD_DEVTOOLS__: false,
    __VUE_PROD_DEVTOOLS__: false,
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: false,
  },
  server: {
    proxy: { '/api': { target: api, changeOrigin: false } },
  },
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 600,
    rolldownOptions: {
      output: {
        chunkFileNames: (chunk) => `assets/${chunkName(chunk)}-[hash].js`,
      },
    },
  },
})
