-- A number for each blocklist entry, so the admin page can name an entry to remove
-- without putting the (masked) phone number in the page.

ALTER TABLE sms_blocklist ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY UNIQUE;
