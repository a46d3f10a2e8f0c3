"""Results and reports: a failed case as text, Allure results, the canonical JSON-lines
results file, the conformance matrix, and the report/ folder built from every
implementation."""
