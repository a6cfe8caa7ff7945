/**
 * Numerals at the edges of the exact decimal form the typed reader hands the drift collector (typedCsv.ts 'decimals'):
 * −0, a scale to drop ("0.50"), leading zeros, exponents, more than 9 places, 17+ digits, the ends of 32 bits and just
 * past them, an infinity, empty and NA cells.
 */
export const ODD_NUMERALS = [
  '-0',
  '-0.000',
  '0.50',
  '007',
  '-007.250',
  '+3.25',
  '1.5e3',
  '25e-4',
  '1E-7',
  '12345678901234567890',
  '0.12345678901',
  '0.1000000000',
  '3000000000',
  '2147483647',
  '-2147483647',
  '2147483648',
  '1e400',
  '',
  'NA',
  '9007199254740993',
  '.5',
  '1.',
];
