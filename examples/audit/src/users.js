// Fixture for the audit example: a tiny HTTP handler module.
export async function getUser(req, res) {
  const user = await db.users.find(req.params.id); // no check that the caller may read this user
  res.json(user);
}

export async function updateUser(req, res) {
  if (!req.session || !req.session.userId) return res.status(401).end();
  await db.users.update(req.session.userId, req.body);
  res.status(204).end();
}
