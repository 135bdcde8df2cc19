/**
 * Another process holding the database's write lock, for the store-fault tests:
 * `node --import tsx lock-holder.ts <db>` takes `BEGIN EXCLUSIVE`, prints `locked`, and
 * holds it until a line arrives on stdin; then it commits, prints `released` and exits.
 */
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';

const [file] = process.argv.slice(2);
if (!file) {
  console.error('usage: lock-holder.ts <db>');
  process.exit(2);
}
const db = new Database(file);
db.exec('BEGIN EXCLUSIVE');
console.log('locked');
createInterface({ input: process.stdin }).once('line', () => {
  db.exec('COMMIT');
  db.close();
  console.log('released');
  process.exit(0);
});
