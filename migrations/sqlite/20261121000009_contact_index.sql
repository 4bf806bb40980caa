-- Finding the service or user behind an Interact contact id without scanning every document.
CREATE INDEX directory_contact_id
    ON directory_documents (json_extract(body, '$.interact.contactId'));
