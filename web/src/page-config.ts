// What the storefront server tells the page at GET /config.json: where each service is.
export interface PageConfig {
  accountUrl: string;
  catalogUrl: string;
  orderUrl: string;
}
