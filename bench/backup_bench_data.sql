-- The backup benchmark's data: a shop's database, generated inside PostgreSQL, seeded (the same
-- rows every run). {users}, {orders} and {events} are filled in by backup_bench.py (--scale).
-- Vocabularies are drawn with skew (power() of a uniform draw), products by log-uniform rank
-- (a power law: a few best sellers, a long tail); the helpers are dropped at the end.
SELECT setseed(0.42);
CREATE TABLE vocab (kind text, i int, v text, PRIMARY KEY (kind, i));
INSERT INTO vocab SELECT k, n, v FROM (VALUES
 ('first', 'James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah Timothy Stephanie Minjun Seoyeon Jiho Jiwoo Hayoon Doyun Seojun Haeun Yejun Jimin Hiroshi Yuki Haruto Yui Sota Hina Lukas Emma Leon Mia Finn Hannah Paul Lea Lucas Chloe Hugo Louise Mateo Sofia Santiago Valentina Diego Camila Oliver Amelia Noah Isla Arthur Ava Liam Olivia Ethan Zoe Mohammed Fatima Omar Aisha Ali Layla Wei Fang Jun Mei Ivan Olga Dmitri Anna Pedro Ana Joao Beatriz Lars Ingrid Mikko Aino'),
 ('last', 'Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Kim Park Choi Jung Kang Cho Yoon Jang Lim Han Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Muller Schmidt Schneider Fischer Weber Meyer Wagner Becker Martin Bernard Dubois Thomas Robert Richard Petit Durand Silva Santos Ferreira Pereira Oliveira Costa Rossi Russo Ferrari Esposito Bianchi Romano Ivanov Smirnov Kuznetsov Wang Li Zhang Liu Chen Yang Huang Zhao Khan Ahmed Hansen Johansson Virtanen'),
 ('domain', 'gmail.com gmail.com gmail.com gmail.com gmail.com gmail.com naver.com naver.com yahoo.com yahoo.com hotmail.com hotmail.com outlook.com outlook.com icloud.com icloud.com kakao.com daum.net proton.me gmx.de web.de orange.fr yahoo.co.jp live.com aol.com mail.ru qq.com 163.com acme-corp.com example.org'),
 ('city', 'Seoul:KR Seoul:KR Seoul:KR Busan:KR Incheon:KR Daegu:KR Daejeon:KR Gwangju:KR Suwon:KR Ulsan:KR Tokyo:JP Tokyo:JP Osaka:JP Yokohama:JP Nagoya:JP Sapporo:JP Fukuoka:JP New_York:US New_York:US Los_Angeles:US Chicago:US Houston:US Phoenix:US Philadelphia:US San_Antonio:US San_Diego:US Dallas:US Austin:US Seattle:US Boston:US Denver:US Portland:US London:GB London:GB Manchester:GB Birmingham:GB Leeds:GB Glasgow:GB Berlin:DE Berlin:DE Hamburg:DE Munich:DE Cologne:DE Frankfurt:DE Paris:FR Paris:FR Lyon:FR Marseille:FR Toulouse:FR Madrid:ES Barcelona:ES Valencia:ES Lisbon:PT Porto:PT Rome:IT Milan:IT Naples:IT Amsterdam:NL Rotterdam:NL Brussels:BE Vienna:AT Zurich:CH Stockholm:SE Oslo:NO Copenhagen:DK Helsinki:FI Warsaw:PL Prague:CZ Budapest:HU Toronto:CA Vancouver:CA Montreal:CA Mexico_City:MX Sao_Paulo:BR Rio_de_Janeiro:BR Buenos_Aires:AR Lima:PE Bogota:CO Santiago:CL Sydney:AU Melbourne:AU Auckland:NZ Singapore:SG Bangkok:TH Jakarta:ID Manila:PH Mumbai:IN Delhi:IN Bangalore:IN Cairo:EG Lagos:NG Nairobi:KE Istanbul:TR Dubai:AE'),
 ('street', 'Main Oak Pine Maple Cedar Elm Washington Lake Hill Park River Sunset Church Mill Spring North South Station Garden Market High King Queen Victoria Gangnam Teheran Sejong Hauptstrasse Bahnhof Rue_de_la_Paix Gran_Via'),
 ('suffix', 'St Ave Rd Blvd Ln Dr Way Ct Pl -ro -gil Strasse'),
 ('lang', 'en en en en ko ko ko ja de fr es pt it'),
 ('source', 'organic organic organic google_ads facebook instagram newsletter referral affiliate tiktok'),
 ('adj', 'Classic Modern Vintage Premium Essential Everyday Slim Relaxed Ultra Lightweight Heavy-Duty Compact Deluxe Eco Organic Smart Wireless Portable Waterproof Ergonomic Minimal Soft Rugged Sport Travel Kids Pro Mini Max Urban'),
 ('material', 'Cotton Linen Wool Leather Denim Bamboo Steel Aluminium Ceramic Glass Oak Walnut Silicone Nylon Cashmere Silk Canvas Titanium Cork Marble'),
 ('noun', 'T-Shirt Hoodie Jacket Sneakers Backpack Wallet Mug Water_Bottle Desk_Lamp Headphones Keyboard Mouse Chair Notebook Pen Watch Sunglasses Scarf Beanie Socks Jeans Dress Blender Kettle Frying_Pan Knife_Set Pillow Blanket Towel Candle Plant_Pot Phone_Case Charger Speaker Umbrella Tote_Bag Belt Gloves Yoga_Mat Dumbbell'),
 ('category', 'apparel apparel apparel footwear accessories accessories home home kitchen kitchen electronics electronics office sports beauty toys garden books'),
 ('color', 'black white navy grey red blue green beige brown pink olive charcoal'),
 ('size', 'XS S M M L L XL XXL one-size'),
 ('status', 'delivered delivered delivered delivered delivered delivered shipped shipped processing pending cancelled refunded'),
 ('carrier', 'UPS FedEx DHL USPS CJ_Logistics Hanjin Yamato Royal_Mail DPD'),
 ('ua', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36|Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36|Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36|Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1|Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1|Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.102 Mobile Safari/537.36|Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.6668.100 Mobile Safari/537.36|Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15|Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36|Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0|Mozilla/5.0 (X11; Linux x86 64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36|Mozilla/5.0 (X11; Ubuntu; Linux x86 64; rv:131.0) Gecko/20100101 Firefox/131.0|Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.2849.68|Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1|Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36|Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)|Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)|Mozilla/5.0 (Linux; Android 12; KAKAOTALK 10.8.3) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Mobile Safari/537.36|python-requests/2.32.3|curl/8.5.0'),
 ('ref', '||||https://www.google.com/|https://www.google.com/|https://search.naver.com/|https://www.facebook.com/|https://t.co/|https://www.instagram.com/|https://duckduckgo.com/|https://www.bing.com/|https://news.ycombinator.com/'),
 ('term', 'shoes hoodie black+jacket gift wireless+headphones mug yoga backpack sale linen+shirt kids desk+lamp summer+dress running organic+cotton water+bottle keyboard christmas leather+wallet')
) AS s(k, words), LATERAL (
  SELECT n::int, CASE WHEN k IN ('ua', 'ref') THEN w ELSE replace(w, '_', ' ') END AS v
  FROM unnest(string_to_array(words, CASE WHEN k IN ('ua', 'ref') THEN '|' ELSE ' ' END))
       WITH ORDINALITY AS u(w, n)) x;
CREATE FUNCTION pick(a text[], r double precision) RETURNS text LANGUAGE sql IMMUTABLE AS
 $$ SELECT a[1 + floor(r * cardinality(a))::int] $$;
-- vocabularies as arrays (fast to index from SQL)
CREATE TEMP TABLE va AS SELECT kind, array_agg(v ORDER BY i) AS a FROM vocab GROUP BY kind;
CREATE FUNCTION v(k text) RETURNS text[] LANGUAGE sql STABLE AS $$ SELECT a FROM va WHERE kind = k $$;

CREATE TABLE accounts_user (
  id bigint PRIMARY KEY, username varchar(150) NOT NULL UNIQUE, first_name varchar(150) NOT NULL,
  last_name varchar(150) NOT NULL, email varchar(254) NOT NULL, is_active boolean NOT NULL,
  is_staff boolean NOT NULL, date_joined timestamptz NOT NULL, last_login timestamptz,
  city varchar(100) NOT NULL, country char(2) NOT NULL, profile jsonb NOT NULL
);
INSERT INTO accounts_user
SELECT g, lower(f) || '.' || lower(l) || g, f, l,
  lower(f) || CASE WHEN r1 < 0.5 THEN '.' ELSE '' END || lower(l) || CASE WHEN r1 < 0.7 THEN (g % 97)::text ELSE '' END
    || '@' || pick(v('domain'), r2),
  r3 > 0.05, g % 500 = 0,
  timestamptz '2019-01-01 00:00+00' + (g::double precision / {users}) * interval '2190 days' + r4 * interval '1 hour',
  CASE WHEN r5 < 0.9 THEN timestamptz '2024-06-01 00:00+00' + r5 * interval '540 days' END,
  split_part(c, ':', 1), split_part(c, ':', 2),
  jsonb_build_object(
    'address', jsonb_build_object(
      'line1', (1 + floor(r6 * 2400))::int || ' ' || pick(v('street'), r7) || ' ' || pick(v('suffix'), r8),
      'line2', CASE WHEN r8 < 0.3 THEN 'Apt ' || (1 + floor(r9 * 1800))::int END,
      'city', split_part(c, ':', 1), 'postcode', lpad((floor(r9 * 99999))::int::text, 5, '0'),
      'country', split_part(c, ':', 2)),
    'phone', '+' || (ARRAY['82', '1', '44', '49', '33', '81', '34', '55'])[1 + floor(r2 * 8)::int] || ' ' || (100 + floor(r6 * 899))::int || '-' || (1000 + floor(r7 * 8999))::int || '-' || (1000 + floor(r4 * 8999))::int,
    'preferences', jsonb_build_object('language', pick(v('lang'), r3),
      'newsletter', r4 < 0.4, 'theme', CASE WHEN r5 < 0.3 THEN 'dark' ELSE 'light' END,
      'currency', (ARRAY['KRW', 'USD', 'EUR', 'JPY', 'GBP'])[1 + floor(r6 * 5)::int]),
    'signup', jsonb_build_object('source', pick(v('source'), r7),
      'campaign', CASE WHEN r7 > 0.3 THEN 'cmp-' || (2019 + floor(r9 * 6))::int || '-' || lpad((1 + floor(r8 * 12))::int::text, 2, '0') END),
    'marketing_consent', r9 < 0.55,
    'loyalty', jsonb_build_object('tier', (ARRAY['bronze', 'bronze', 'bronze', 'silver', 'silver', 'gold', 'platinum'])[1 + floor(r1 * 7)::int], 'points', floor(r2 * r3 * 20000)::int))
FROM (
  SELECT g, pick(v('first'), power(random(), 1.6)) f,
    pick(v('last'), power(random(), 1.8)) l,
    pick(v('city'), power(random(), 1.5)) c,
    random() r1, random() r2, random() r3, random() r4, random() r5, random() r6, random() r7, random() r8, random() r9
  FROM generate_series(1, {users}) g) s;

CREATE TABLE catalog_product (
  id integer PRIMARY KEY, sku varchar(32) NOT NULL UNIQUE, title varchar(255) NOT NULL,
  slug varchar(255) NOT NULL, brand varchar(100) NOT NULL, category varchar(50) NOT NULL,
  price numeric(10, 2) NOT NULL, description text NOT NULL, attributes jsonb NOT NULL,
  stock integer NOT NULL, created_at timestamptz NOT NULL
);
INSERT INTO catalog_product
SELECT g, upper(left(cat, 3)) || '-' || lpad(g::text, 6, '0') || '-' || upper(left(col, 2)),
  t, lower(replace(t, ' ', '-')) || '-' || g, 'Brand' || (1 + floor(power(r1, 2) * 300))::int, cat,
  round((4.99 + power(r2, 2) * 400)::numeric, 2),
  'The ' || lower(t) || ' in ' || col || '. ' ||
   (ARRAY['Made to last, with reinforced seams.', 'Designed in Seoul, made responsibly.', 'Machine washable at 30 degrees.', 'Ships in recyclable packaging.', 'Backed by a two-year warranty.', 'A customer favourite since launch.'])[1 + floor(r3 * 6)::int]
   || ' ' || (ARRAY['Free returns within 30 days.', 'Limited stock.', '', 'Pairs well with our other essentials.'])[1 + floor(r4 * 4)::int],
  jsonb_build_object('color', col, 'size', pick(v('size'), r4),
    'weight_g', (50 + floor(r5 * 3000))::int, 'origin', (ARRAY['KR', 'CN', 'VN', 'PT', 'IT', 'US', 'DE'])[1 + floor(r1 * 7)::int],
    'dimensions', jsonb_build_object('w', (5 + floor(r2 * 60))::int, 'h', (5 + floor(r3 * 60))::int, 'd', (1 + floor(r4 * 30))::int)),
  floor(r5 * 500)::int,
  timestamptz '2020-01-01 00:00+00' + (g::double precision / 50000) * interval '1700 days'
FROM (
  SELECT g, pick(v('adj'), random()) || ' ' || pick(v('material'), random()) || ' ' || pick(v('noun'), random()) t,
    pick(v('category'), random()) cat, pick(v('color'), random()) col,
    random() r1, random() r2, random() r3, random() r4, random() r5
  FROM generate_series(1, 50000) g) s;

-- line items: a product drawn by power-law popularity (log-uniform rank: a few best sellers,
-- a long tail); 1 to 5 lines an order
CREATE TEMP TABLE picks AS
SELECT o, line, least(50000, ceil(exp(random() * ln(50000))))::int AS product,
  1 + floor(power(random(), 3) * 4)::int AS qty
-- (o * 0 keeps the count drawn again for each order: without a reference to o, the planner
-- would draw it once)
FROM generate_series(1, {orders}) o, LATERAL generate_series(1, 1 + floor(power(random(), 2) * 5)::int + o * 0) line;
CREATE TABLE orders_order (
  id bigint PRIMARY KEY, number varchar(32) NOT NULL UNIQUE, user_id bigint NOT NULL,
  status varchar(20) NOT NULL, currency char(3) NOT NULL, total numeric(12, 2) NOT NULL,
  shipping_address jsonb NOT NULL, lines jsonb NOT NULL, carrier varchar(40),
  tracking_number varchar(64), placed_at timestamptz NOT NULL, updated_at timestamptz NOT NULL
);
INSERT INTO orders_order
SELECT x.o, 'ORD-' || to_char(placed, 'YYYYMMDD') || '-' || lpad(x.o::text, 7, '0'), u.id,
  st, (u.profile -> 'preferences' ->> 'currency'), x.total,
  (u.profile -> 'address') || jsonb_build_object('name', u.first_name || ' ' || u.last_name),
  x.lines,
  CASE WHEN st IN ('shipped', 'delivered') THEN (v('carrier'))[1 + (x.o * 7) % 9] END,
  CASE WHEN st IN ('shipped', 'delivered') THEN upper(substr(md5(x.o::text), 1, 18)) END,
  placed, placed + (x.o % 9) * interval '1 day' + (x.o % 3600) * interval '1 second'
FROM (
  SELECT o, sum(p.price * qty) AS total,
    jsonb_agg(jsonb_build_object('sku', p.sku, 'title', p.title, 'unit_price', p.price,
      'quantity', qty, 'category', p.category, 'options', p.attributes -> 'size') ORDER BY line) AS lines
  FROM picks JOIN catalog_product p ON p.id = picks.product GROUP BY o) x
CROSS JOIN LATERAL (SELECT timestamptz '2021-01-01 00:00+00' + (x.o::double precision / {orders}) * interval '1400 days' AS placed,
  (v('status'))[1 + (hashtext(x.o::text) & 1023) % 12] AS st) t
JOIN accounts_user u ON u.id = 1 + (hashtext('u' || x.o) & 2147483647) % {users};
DROP TABLE picks;

CREATE TABLE analytics_event (
  id bigint PRIMARY KEY, session_id uuid NOT NULL, user_id bigint, method varchar(8) NOT NULL,
  path varchar(500) NOT NULL, status smallint NOT NULL, duration_ms integer NOT NULL,
  ip inet NOT NULL, user_agent text NOT NULL, referrer varchar(500), created_at timestamptz NOT NULL
);
INSERT INTO analytics_event
SELECT g, md5('s' || s)::uuid, CASE WHEN hs % 3 <> 0 THEN 1 + hs % {users} END,
  CASE WHEN r1 < 0.92 THEN 'GET' ELSE 'POST' END,
  CASE floor(r2 * 10)::int
    WHEN 0 THEN '/'
    WHEN 1 THEN '/search/?q=' || pick(v('term'), r3) || CASE WHEN r4 < 0.3 THEN '&page=' || (2 + floor(r4 * 10))::int ELSE '' END
    WHEN 2 THEN '/category/' || pick(v('category'), r3) || '/'
    WHEN 3 THEN '/cart/'
    WHEN 4 THEN '/api/v1/products/' || least(50000, ceil(exp(r3 * ln(50000))))::int || '/'
    WHEN 5 THEN '/account/orders/' || (1 + floor(r3 * {orders}))::int || '/'
    ELSE '/products/' || (SELECT slug FROM catalog_product WHERE id = least(50000, ceil(exp(r3 * ln(50000))))::int) || '/'
  END,
  CASE WHEN r5 < 0.94 THEN 200 WHEN r5 < 0.97 THEN 302 WHEN r5 < 0.99 THEN 404 ELSE 500 END,
  (5 + power(r6, 3) * 2500)::int,
  ((hs >> 3) % 223 + 1 || '.' || (hs >> 11) % 256 || '.' || (hs >> 19) % 256 || '.' || hs % 254 + 1)::inet,
  pick(v('ua'), power((hs % 10007) / 10007.0, 2)),
  pick(v('ref'), r7),
  timestamptz '2024-01-01 00:00+00' + g * interval '7 seconds' + floor(r8 * 7) * interval '1 second' + r8 * interval '1 millisecond'
FROM (
  SELECT g, s, abs(hashtext('h' || s)::bigint) AS hs, random() r1, random() r2, random() r3, random() r4,
    random() r5, random() r6, random() r7, random() r8
  FROM (SELECT g, g / 18 + (hashtext(g::text) & 3) AS s FROM generate_series(1, {events}) g) q) e;
UPDATE analytics_event SET referrer = NULL WHERE referrer = '';

DROP FUNCTION pick(text[], double precision);
DROP FUNCTION v(text);
DROP TABLE vocab;
CREATE INDEX accounts_user_email ON accounts_user (email);
CREATE INDEX orders_order_user ON orders_order (user_id);
CREATE INDEX orders_order_placed ON orders_order (placed_at);
CREATE INDEX analytics_event_session ON analytics_event (session_id);
CREATE INDEX analytics_event_created ON analytics_event (created_at);
ANALYZE;
