// What the storefront server tells the page at GET /config.json: where each service is, as an
// absolute URL, or "/" when the storefront forwards it under the page's own origin.
export interface PageConfig {
  accountUrl: string;
  catalogUrl: string;
  orderUrl: string;
}
