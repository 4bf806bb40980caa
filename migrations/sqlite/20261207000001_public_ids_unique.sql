-- Contact ids and WhatsApp phone number ids are public: a contact id stands in a company's
-- widget snippet on its website, a number on its WhatsApp profile. Each routes customers to one
-- document, so each belongs to one service or user across every tenant and kind, and the
-- database enforces it (issue 30: a tenant could claim another tenant's contact id and take its
-- website chats). Earlier versions did not: where documents already share one, the document
-- stored first (lowest rowid) keeps it, the others lose it (their version moves on, so an admin
-- holding the old ETag re-reads and sees it gone).
UPDATE directory_documents
SET body = json_remove(body, '$.interact.contactId'), version = version + 1
WHERE kind IN ('service', 'user')
  AND json_extract(body, '$.interact.contactId') IS NOT NULL
  AND EXISTS (
      SELECT 1 FROM directory_documents AS first
      WHERE first.kind IN ('service', 'user')
        AND json_extract(first.body, '$.interact.contactId')
            = json_extract(directory_documents.body, '$.interact.contactId')
        AND first.rowid < directory_documents.rowid
  );

UPDATE directory_documents
SET body = json_remove(body, '$.whatsapp'), version = version + 1
WHERE kind = 'service'
  AND json_extract(body, '$.whatsapp.phoneNumberId') IS NOT NULL
  AND EXISTS (
      SELECT 1 FROM directory_documents AS first
      WHERE first.kind = 'service'
        AND json_extract(first.body, '$.whatsapp.phoneNumberId')
            = json_extract(directory_documents.body, '$.whatsapp.phoneNumberId')
        AND first.rowid < directory_documents.rowid
  );

DROP INDEX directory_contact_id;
CREATE UNIQUE INDEX directory_contact_id
    ON directory_documents (json_extract(body, '$.interact.contactId'))
    WHERE kind IN ('service', 'user');

DROP INDEX directory_whatsapp_number;
CREATE UNIQUE INDEX directory_whatsapp_number
    ON directory_documents (json_extract(body, '$.whatsapp.phoneNumberId'))
    WHERE kind = 'service';
