// Messages and confirmations (Element Plus services, imported with their styles on demand).
import { ElMessage, ElMessageBox } from 'element-plus'
import 'element-plus/es/components/message/style/css'
import 'element-plus/es/components/message-box/style/css'

import { errorMessage } from '@/api/problem'
import { t } from '@/i18n'

export function notifySuccess(message: string): void {
  ElMessage({ type: 'success', message, grouping: true })
}

export function notifyError(error: unknown): void {
  ElMessage({ type: 'error', message: typeof error === 'string' ? error : errorMessage(error), grouping: true })
}

/** Ask before a destructive action; resolves true when confirmed. */
export async function confirmDanger(message: string, title: string, confirmText: string): Promise<boolean> {
  try {
    await ElMessageBox.confirm(message, title, {
      type: 'warning',
      confirmButtonText: confirmText,
      cancelButtonText: t('common.cancel'),
      confirmButtonClass: 'el-button--danger',
    })
    return true
  } catch {
    return false
  }
}
