// Allure Report 3 configuration: one self-contained HTML file (no server needed, opens from
// file://). The report's analytics tag is stripped afterwards by harness/reports/build.py.
import { defineConfig } from "allure";

export default defineConfig({
  name: "connect() conformance (cloudflare:sockets)",
  output: process.env.ALLURE_OUTPUT || "../../report/allure",
  plugins: {
    awesome: { options: { singleFile: true, reportLanguage: "en", groupBy: ["epic", "feature", "story"] } },
  },
});
