/**
 * Custom attributes: the seed team's asset database. Which ones a deployment copies, which are
 * secret, and how a secret is shown to a caller who may not read it.
 */

/** The seed script's list of attributes copied from parent to clone. */
export const DEFAULT_COPIED_ATTRIBUTES: readonly string[] = [
  'AD Object Location',
  'Customisation',
  'Infrastructure Consultant',
  'Logon Administrator Name',
  'Logon Administrator Password',
  'Logon User Name',
  'Logon User Password',
  'Mobilisation Consultant',
  'Project',
  'Role',
]

/** The parent's attribute that names the OS customization spec. */
export const DEFAULT_CUSTOMIZATION_ATTRIBUTE = 'Customisation'

/** Set on every clone to the parent's name, as the seed does. */
export const TEMPLATE_ATTRIBUTE = 'Template'

export const REDACTED = '***'

export interface AttributeValue {
  name: string
  value: string
}

export function isSecretAttribute(name: string): boolean {
  return /password/i.test(name)
}

export function redactAttributes(attributes: AttributeValue[], canReadSecrets: boolean): AttributeValue[] {
  if (canReadSecrets) return attributes
  return attributes.map((a) => (isSecretAttribute(a.name) ? { name: a.name, value: REDACTED } : a))
}

/**
 * The values a clone receives: each listed attribute with the parent's value (an attribute the parent
 * has no value for is copied as empty, as the seed's script does), then Template = the parent's name.
 */
export function attributesForClone(
  copied: readonly string[],
  parentValues: ReadonlyMap<string, string>,
  parentName: string,
): AttributeValue[] {
  const values = copied
    .filter((name) => name !== TEMPLATE_ATTRIBUTE)
    .map((name) => ({ name, value: parentValues.get(name) ?? '' }))
  values.push({ name: TEMPLATE_ATTRIBUTE, value: parentName })
  return values
}
