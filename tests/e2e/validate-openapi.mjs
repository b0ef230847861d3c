// Validates an OpenAPI document with @apidevtools/swagger-parser, independently of
// the Rust code that wrote it: `node validate-openapi.mjs <file.json>`.
// Exit 0 and "valid" when the document is valid OpenAPI (3.1 schema, every $ref
// resolves, no duplicate operation ids or parameters); exit 1 with the validator's
// message otherwise. Used by tests/it/openapi.rs on the served /api/openapi.json.
import { readFile } from 'node:fs/promises';
import SwaggerParser from '@apidevtools/swagger-parser';

const file = process.argv[2];
if (!file) {
  console.error('usage: node validate-openapi.mjs <openapi.json>');
  process.exit(2);
}
try {
  const doc = JSON.parse(await readFile(file, 'utf8'));
  const api = await SwaggerParser.validate(doc);
  console.log(`valid: OpenAPI ${api.openapi}, ${Object.keys(api.paths ?? {}).length} paths`);
} catch (e) {
  console.error(`invalid: ${e.message}`);
  process.exit(1);
}
