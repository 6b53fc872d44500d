// Server entry of the admin UI build (Nuxt-style .output/server); unused in static mode.
export default { fetch: () => new Response('Hello Tasks admin') }
