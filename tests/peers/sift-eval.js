// The reference filter engine for Castellan's differential test.
// stdin:  {"queries": [q0, q1, …], "documents": [d0, d1, …]}
// stdout: a JSON array of booleans, sift(q_i)(d_j) at index i * documents.length + j;
//         a query sift refuses gives {"error": message} in place of each of its booleans.
// Or stdin {"pairs": [[q, d], …]}: one verdict (or {"error": message}) per pair.
"use strict";

const siftModule = require("sift");
const sift = siftModule.default || siftModule;

// `$eqi` is Castellan's (and Strapi's) addition: an equality-style operation (it sees the same
// values as `$eq`) that holds for strings equal to the operand up to ASCII case.
const asciiLower = (s) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
const operations = {
  $eqi: (params, ownerQuery, options) =>
    siftModule.createEqualsOperation(
      (value) => typeof value === "string" && asciiLower(value) === asciiLower(params),
      ownerQuery,
      options,
    ),
};

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const { queries, documents, pairs } = JSON.parse(input);
  const out = [];
  if (pairs) {
    for (const [query, document] of pairs) {
      try {
        out.push(sift(query, { operations })(document));
      } catch (e) {
        out.push({ error: String(e.message) });
      }
    }
    process.stdout.write(JSON.stringify(out));
    return;
  }
  for (const query of queries) {
    let test;
    try {
      test = sift(query, { operations });
    } catch (e) {
      for (let j = 0; j < documents.length; j++) out.push({ error: String(e.message) });
      continue;
    }
    for (const document of documents) {
      try {
        out.push(test(document));
      } catch (e) {
        out.push({ error: String(e.message) });
      }
    }
  }
  process.stdout.write(JSON.stringify(out));
});
