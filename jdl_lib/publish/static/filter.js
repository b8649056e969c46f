// Client-side filter of the published reports table: free text plus service type, setting and verdict.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const table = document.getElementById("reports");
  if (!table) return;
  const controls = ["q", "service_type", "setting", "verdict"].map((id) => document.getElementById(id));
  const rows = Array.from(table.tBodies[0].rows);
  const count = document.getElementById("shown");
  const apply = () => {
    const [q, type, setting, verdict] = controls.map((c) => c.value.trim().toLowerCase());
    let shown = 0;
    for (const row of rows) {
      const ok = (!q || row.textContent.toLowerCase().includes(q)) &&
        (!type || row.dataset.serviceType === type) &&
        (!setting || row.dataset.setting === setting) &&
        (!verdict || row.dataset.verdict === verdict);
      row.hidden = !ok;
      if (ok) shown += 1;
    }
    count.textContent = shown;
  };
  controls.forEach((c) => c.addEventListener("input", apply));
  apply();
});
