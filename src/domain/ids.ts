/** Identifiers the service hands out. */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Whether `id` can be one of our ids (deployments, preparations): anything else is simply not found. */
export const isUuid = (id: string): boolean => UUID.test(id)
