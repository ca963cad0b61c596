// Fixture for the audit example: billing handlers.
export async function listInvoices(req, res) {
  res.json(await db.invoices.forAccount(req.query.account)); // any caller can list any account
}

export async function health(req, res) {
  res.json({ ok: true });
}
