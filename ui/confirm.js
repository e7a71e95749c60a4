// The confirmation every change asks for first: one modal <dialog> (focus kept inside it, Escape
// cancels, focus goes back to the button that opened it), optionally with a number to give.

/**
 * @typedef {{ label: string, value: number, min: number, max: number }} NumberField
 * @param {{ title: string, text: string, confirm: string, field?: NumberField, danger?: boolean }} question
 * @returns {Promise<{ value?: number } | null>} null when cancelled
 */
export function confirmFirst(question) {
  const dialog = /** @type {HTMLDialogElement} */ (document.getElementById('confirm'))
  const form = /** @type {HTMLFormElement} */ (document.getElementById('confirm-form'))
  const input = /** @type {HTMLInputElement} */ (document.getElementById('confirm-input'))
  const fieldBox = /** @type {HTMLElement} */ (document.getElementById('confirm-field'))
  const fieldError = /** @type {HTMLElement} */ (document.getElementById('confirm-field-error'))
  const ok = /** @type {HTMLButtonElement} */ (document.getElementById('confirm-ok'))
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null

  setText('confirm-title', question.title)
  setText('confirm-text', question.text)
  ok.textContent = question.confirm
  ok.classList.toggle('danger', Boolean(question.danger))
  fieldError.textContent = ''
  fieldBox.hidden = !question.field
  input.disabled = !question.field
  if (question.field) {
    setText('confirm-label', question.field.label)
    input.min = String(question.field.min)
    input.max = String(question.field.max)
    input.step = '1'
    input.required = true
    input.value = String(question.field.value)
  }

  return new Promise((resolve) => {
    /** @param {SubmitEvent} event */
    const onSubmit = (event) => {
      const button = event.submitter instanceof HTMLButtonElement ? event.submitter : null
      if (button?.value !== 'confirm' || !question.field) return
      const value = Number(input.value)
      const { min, max } = question.field
      if (!Number.isInteger(value) || value < min || value > max) {
        event.preventDefault()
        fieldError.textContent = `Give a whole number from ${min} to ${max}.`
        input.setAttribute('aria-invalid', 'true')
        input.focus()
      }
    }
    const onClose = () => {
      form.removeEventListener('submit', onSubmit)
      input.removeEventListener('input', onInput)
      input.removeAttribute('aria-invalid')
      const confirmed = dialog.returnValue === 'confirm'
      // The lists are redrawn every few seconds: the button that opened the dialog may have been
      // replaced meanwhile by its twin (same data-key).
      const key = opener?.dataset.key
      const back = opener?.isConnected ? opener : key ? document.querySelector(`[data-key="${CSS.escape(key)}"]`) : null
      if (back instanceof HTMLElement) back.focus()
      resolve(confirmed ? (question.field ? { value: Number(input.value) } : {}) : null)
    }
    const onInput = () => {
      fieldError.textContent = ''
      input.removeAttribute('aria-invalid')
    }
    form.addEventListener('submit', onSubmit)
    input.addEventListener('input', onInput)
    dialog.addEventListener('close', onClose, { once: true })
    dialog.returnValue = ''
    dialog.showModal()
    if (question.field) {
      input.focus()
      input.select()
    } else {
      document.getElementById('confirm-cancel')?.focus()
    }
  })
}

/** @param {string} id @param {string} text */
function setText(id, text) {
  const el = document.getElementById(id)
  if (el) el.textContent = text
}
