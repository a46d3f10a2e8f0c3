// Allure Report 3 configuration: one self-contained HTML file (no server needed, opens from
// file://). The report's analytics tag is stripped afterwards by harness/reports/build.py.
//
// One environment per implementation run: build.py writes ALLURE_ENVIRONMENTS, a JSON file
// {environments: [{id, name, label, value, variables}], variables: {implementation: score}}
// (reports/allure_results.py Environment), and every result carries the label that matches
// exactly one environment. The scores are report variables, shown under the title of the
// "All" view where a reader lands, and each environment's `conformance` variable in its view.
import { readFileSync } from "node:fs";
import { defineConfig } from "allure";

const { environments: listed = [], variables = {} } = process.env.ALLURE_ENVIRONMENTS
  ? JSON.parse(readFileSync(process.env.ALLURE_ENVIRONMENTS, "utf-8"))
  : {};
const environments = Object.fromEntries(listed.map((env) => [env.id, {
  name: env.name,
  variables: env.variables,
  matcher: ({ labels }) => labels.some((l) => l.name === env.label && l.value === env.value),
}]));

export default defineConfig({
  name: "connect() conformance (cloudflare:sockets)",
  output: process.env.ALLURE_OUTPUT || "../../report/allure",
  ...(listed.length ? { environments, variables } : {}),
  // Allure's own known-issue means: a known divergence (an entry of the adapter's
  // expectations file; allure_results.settle starts its message "Known divergence") is failed
  // or broken like any other, and its category sets it apart from the unexpected ones.
  // Categories apply in order; each result gets the first that matches.
  categories: {
    rules: [
      {
        id: "known-divergence",
        name: "Known divergences (listed in the adapter's expectations file)",
        matchers: { statuses: ["failed", "broken"], message: /^Known divergence/ },
        groupBy: ["environment", { label: "verdict" }],
        groupByMessage: false,
      },
      {
        id: "unexpected",
        name: "Unexpected results (not as the adapter's expectations file says)",
        matchers: { statuses: ["failed"] },
        groupBy: ["environment", { label: "verdict" }],
      },
      {
        id: "not-judged",
        name: "Not judged (the harness could not run or judge the case)",
        matchers: { statuses: ["broken"] },
        groupBy: ["environment"],
      },
      {
        id: "not-applicable",
        name: "Not applicable (a feature the implementation does not claim)",
        matchers: { statuses: ["skipped"] },
        groupBy: ["environment"],
        groupByMessage: false,
      },
    ],
  },
  plugins: {
    awesome: { options: { singleFile: true, reportLanguage: "en", groupBy: ["epic", "feature", "story"] } },
  },
});
