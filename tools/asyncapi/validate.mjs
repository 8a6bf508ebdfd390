// Validate an AsyncAPI document (a file path, or standard input) with @asyncapi/parser.
// Prints every diagnostic as a JSON line; exits 1 if any is an error (severity 0).
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const source = readFileSync(process.argv[2] ?? 0, "utf8");
const { document, diagnostics } = await new Parser().parse(source);
for (const diagnostic of diagnostics) {
  console.log(JSON.stringify({ severity: diagnostic.severity, code: diagnostic.code, path: diagnostic.path, message: diagnostic.message }));
}
const errors = diagnostics.filter((diagnostic) => diagnostic.severity === 0);
process.exit(document && errors.length === 0 ? 0 : 1);
