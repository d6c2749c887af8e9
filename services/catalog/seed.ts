// Demo products for a newcomer: loaded into an empty catalog at development start-up, or by
// hand with `tsx services/catalog/seed.ts` (npm run seed) against DATABASE_URL.
import { readFile } from "node:fs/promises";
import * as v from "valibot";
import { openDatabase } from "../../platform/data/database.js";
import { isEntryPoint } from "../../platform/runtime.js";
import { loadCatalogConfig, migrationsFolder } from "./config.js";
import { createProductRequest } from "./domain.js";
import * as schema from "./schema.js";
import { CatalogStore, type NewProduct } from "./store.js";

const seedFile = new URL("./seed-products.json", import.meta.url);

/** The demo products, checked by the same rules as CreateProduct. */
export async function loadSeedProducts(): Promise<NewProduct[]> {
  const raw = JSON.parse(await readFile(seedFile, "utf8")) as unknown[];
  return raw.map((entry, i) => {
    const record = entry as Record<string, unknown>;
    const result = v.safeParse(createProductRequest, {
      ...record,
      priceCents: BigInt(record.priceCents as number),
    });
    if (!result.success) {
      throw new Error(`seed product ${i}: ${result.issues.map((x) => x.message).join("; ")}`);
    }
    return result.output;
  });
}

/** Inserts the demo products when the catalog is empty; returns how many it inserted. */
export async function seedIfEmpty(store: CatalogStore): Promise<number> {
  const created = await store.products.createMany(await loadSeedProducts(), {
    onlyIntoEmpty: true,
  });
  return created.length;
}

if (isEntryPoint(import.meta.url)) {
  const config = loadCatalogConfig();
  const database = await openDatabase({
    url: config.DATABASE_URL,
    schema,
    migrationsFolder,
  });
  try {
    const store = new CatalogStore(database.db);
    const seeded = await seedIfEmpty(store);
    process.stdout.write(
      seeded > 0
        ? `seeded ${seeded} demo products into DATABASE_URL's database\n`
        : `the catalog at DATABASE_URL already has ${await store.products.count()} products; left it alone\n`,
    );
  } finally {
    await database.close();
  }
}
